"""Domain package of the portal session service: models, storage, tokens, errors and API keys.

Nothing here knows about API Gateway; the Lambda handlers adapt events to these functions.
"""
