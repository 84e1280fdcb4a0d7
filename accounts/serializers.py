from rest_framework import serializers

from accounts.models import ApiToken, User
from eventsys.api.fields import StrictCharField, StrictEmailField
from eventsys.api.serializers import ModelSerializer


class RegisterSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)
    email = StrictEmailField(required=False, allow_blank=True, default="")


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)


class TokenPairSerializer(serializers.Serializer):
    access = StrictCharField(read_only=True)
    refresh = StrictCharField(read_only=True)


class LogoutSerializer(serializers.Serializer):
    refresh = StrictCharField()


class PasswordChangeSerializer(serializers.Serializer):
    old_password = StrictCharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)
    new_password = StrictCharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField()


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64, help_text="The uid from the reset e-mail.")
    token = StrictCharField(max_length=128, help_text="The token from the reset e-mail.")
    new_password = StrictCharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)


class DetailSerializer(serializers.Serializer):
    detail = StrictCharField(read_only=True)


class UserSerializer(ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "date_joined", "last_login", "is_staff"]
        read_only_fields = ["id", "username", "date_joined", "last_login", "is_staff"]


class ApiTokenSerializer(ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = StrictCharField(
        read_only=True,
        allow_null=True,
        help_text="The plaintext token. Shown once; store it now (null in an Idempotency-Key replay).",
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
