"""Buttons on an object's own admin page: each runs one of the admin's actions on that one object.

The action does the work (and its checks and messages), as it does from the list; a button is a POST,
and admin_view checks staff and CSRF. An action the user may not run is refused (403).
"""

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST


class ObjectButtonsMixin:
    change_form_template = "admin/object_buttons_change_form.html"
    # (the name of one of the admin's actions, the button's label, its hover text)
    object_buttons: list[tuple[str, str, str]] = []

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.object_button_view))
        name = f"{self.opts.app_label}_{self.opts.model_name}_button"
        return [path("<path:object_id>/button/<str:action>/", view, name=name), *super().get_urls()]

    def object_button_view(self, request, object_id, action):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        allowed = self.get_actions(request)  # only the actions this user may run
        if action not in {name for name, _, _ in self.object_buttons_for(obj)} or action not in allowed:
            raise PermissionDenied
        run, _, _ = allowed[action]
        response = run(self, request, self.get_queryset(request).filter(pk=obj.pk))
        change_page = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        return response or HttpResponseRedirect(change_page)

    def object_buttons_for(self, obj) -> list[tuple[str, str, str]]:
        """The buttons that make sense for this object (all of them unless an admin says otherwise)."""
        return self.object_buttons

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["object_buttons"] = self.object_buttons_for(obj) if obj is not None else []
        return super().render_change_form(request, context, add, change, form_url, obj)
