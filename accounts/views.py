from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenRefreshView as SimpleJWTTokenRefreshView

from accounts import services
from accounts.models import ApiToken
from accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    LoginSerializer,
    LogoutSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from eventsys.api.schema import error_response


class RegisterView(APIView):
    """Create an account. Django's password validators apply; throttled per client."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainView(APIView):
    """Log in: a short-lived access token and a rotating refresh token.

    Repeated failures for one username from one client address lock that pair out for a cool-off
    period (429 `locked_out` with Retry-After); many more from all addresses lock the username.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: error_response("Wrong username or password.")},
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = services.user_login(request=request, **serializer.validated_data)
        return Response({"access": pair.access, "refresh": pair.refresh})


class TokenRefreshView(SimpleJWTTokenRefreshView):
    """Trade a refresh token for a new pair; the old refresh token is blacklisted."""

    @extend_schema(
        responses={
            200: TokenRefreshSerializer,
            401: error_response("The refresh token is invalid, expired or already used."),
        }
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """Revoke a refresh token of the caller's."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=LogoutSerializer, responses={204: None})
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(user=request.user, refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = UserSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        serializer.instance = services.user_update(user=self.request.user, **serializer.validated_data)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """API tokens for machines. The plaintext is in the creation response only; DELETE revokes."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiToken.objects.none()
        return services.api_tokens_visible_to(self.request.user).order_by("-created_at", "-id")

    @extend_schema(responses={201: ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(user=request.user, name=serializer.validated_data["name"])
        token.token = plaintext
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.api_token_revoke(token=instance)
