"""`Authorization: Bearer <credential>` for people (JWT access tokens) and machines (API tokens)."""

from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.services import api_token_authenticate, is_api_token


class BearerAuthentication(authentication.BaseAuthentication):
    """One Bearer scheme, two kinds of credential told apart by the API token's `evs_` marker.

    For an API token `request.auth` is the `ApiToken`; for a JWT it is the validated access token.
    """

    keyword = "Bearer"

    def __init__(self):
        self._jwt = JWTAuthentication()

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        return self.authenticate_credential(header[1])

    def authenticate_credential(self, raw: bytes):
        """(user, auth) for a JWT access token or an API token; AuthenticationFailed otherwise."""
        try:
            credential = raw.decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from None
        if is_api_token(credential):
            token = api_token_authenticate(credential)
            if token is None:
                raise exceptions.AuthenticationFailed("Invalid or revoked API token.", code="invalid_api_token")
            return token.user, token
        validated = self._jwt.get_validated_token(raw)
        return self._jwt.get_user(validated), validated

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
