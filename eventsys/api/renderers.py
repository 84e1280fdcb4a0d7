"""The API's JSON renderer."""

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF's renderer (UTF-8, non-ASCII kept as is), falling back to ASCII escapes for a body that
    holds an unpaired surrogate: an error message may echo what a client sent (`"\\ud800" is not a
    valid choice`), and UTF-8 cannot encode it, while JSON's escapes can."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True  # on this instance only: DRF makes one renderer per request
            return super().render(data, accepted_media_type, renderer_context)
