-- wrk script: the OAuth 2.0 client-credentials grant against oidc-provider's token endpoint.
-- Authorization is HTTP Basic of bench:bench-secret.
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtc2VjcmV0"
