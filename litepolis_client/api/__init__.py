# flake8: noqa

# import apis into api package
from litepolis_client.api.api_keys_api import APIKeysApi
from litepolis_client.api.comments_api import CommentsApi
from litepolis_client.api.conversations_api import ConversationsApi
from litepolis_client.api.user_api import UserApi
from litepolis_client.api.default_api import DefaultApi

