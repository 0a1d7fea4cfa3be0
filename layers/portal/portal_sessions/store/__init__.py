"""Storage in the one DynamoDB table: the only package of the layer that talks to DynamoDB (boto3).

Split by aggregate, each module imported on its own (this file imports nothing, so a function loads only the
repositories it uses):
- table.py: the cached client (`dynamodb_client`), and `Table`, the base of every repository: its calls' failures
  turned into domain errors (errors.py), and the newest-first paging of the keys-only list index (`ListKeys`),
  items read back by key;
- sessions.py: `SessionStore` (create, visit, retrieve, list, expire, erase) and the cleanup's purge queries;
- configurations.py: `ConfigurationStore`;
- api_keys.py: `ApiKeyStore` (keys made with the admin command);
- webhooks.py: `WebhookEndpointStore` and `EventStore`;
- webhook_attempts.py: `WebhookAttemptStore`, each webhook endpoint's recent delivery attempts;
- items.py: the items' codecs and keys (pure functions: the stream's records are read with them too);
- ports.py: what the use cases need of each repository (Protocols), so they can run on in-memory fakes in tests.
"""
