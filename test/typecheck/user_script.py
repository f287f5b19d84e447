"""A user's script that touches every API class; `mypy --strict` must accept it.

It is type-checked, not run: test_typing checks it with mypy.
"""

from __future__ import annotations

import litepolis_client
from litepolis_client import (
    ApiClient,
    APIKeysApi,
    CommentModel,
    CommentResponseMessage,
    CommentsApi,
    Configuration,
    ConversationModel,
    ConversationResponseMessage,
    ConversationsApi,
    DefaultApi,
    RenewalOutcomeUnknownError,
    RetryPolicy,
    Timeout,
    UserApi,
    UserProfile,
    UserResponseMessage,
)


def renew_key(client: ApiClient) -> str:
    try:
        response = APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
    except RenewalOutcomeUnknownError:
        raise
    new_key = response.detail
    if not isinstance(new_key, str):
        raise TypeError("renewal returned no key")
    return new_key


def caller_email(client: ApiClient) -> str:
    detail = UserApi(client).get_testroute_api_v1_secure_get().detail
    if isinstance(detail, UserResponseMessage):
        return detail.email
    return ""


def conversation_titles(client: ApiClient) -> list[str]:
    detail = ConversationsApi(client).get_all_conversations_api_v1_secure_conversations_all_get().detail
    if isinstance(detail, str):
        return []
    return [conversation.title for conversation in detail if isinstance(conversation, ConversationResponseMessage)]


def comment_texts(client: ApiClient, conversation_id: int) -> list[str]:
    response = CommentsApi(client).get_comments_api_v1_secure_comments_cid_get(conversation_id, random=False)
    if isinstance(response.detail, str):
        return []
    return [comment.comment for comment in response.detail if isinstance(comment, CommentResponseMessage)]


def write(client: ApiClient) -> None:
    ConversationsApi(client).create_conversation_api_v1_secure_conversations_post(
        ConversationModel(title="Parks", description="More trees?")
    )
    CommentsApi(client).create_comment_api_v1_secure_comments_post(CommentModel(comment="Yes", conversation_id=1))
    UserApi(client).update_userprofile_api_v1_secure_users_profile_put(
        UserProfile(email="ada@example.org", password="0" * 32)
    )


def healthy(client: ApiClient) -> bool:
    detail = DefaultApi(client).get_testroute_api_v1_public_get()
    return detail == {"detail": "OK"}


def main(host: str, key: str) -> None:
    configuration = Configuration(
        host=host,
        api_key={"APIKeyHeader": key},
        timeout=Timeout(connect=5.0, read=30.0),
        retry=RetryPolicy(max_attempts=2),
    )
    with ApiClient(configuration) as client:
        renew_key(client)
        caller_email(client)
        conversation_titles(client)
        comment_texts(client, 1)
        write(client)
        healthy(client)
        info = UserApi(client).get_userrole_api_v1_secure_users_role_get_with_http_info()
        status: int = info.status_code
        print(status, litepolis_client.__version__)
