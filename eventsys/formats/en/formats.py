"""Date formats for the admin and every template (FORMAT_MODULE_PATH; LANGUAGE_CODE is en-us).

Django's locale formats win over the DATETIME_FORMAT setting, so the override lives here. Times show
to the second with their zone's abbreviation (T: "UTC", "IST", or "+0530" where a zone has none);
every other format, the input formats included, comes from Django's own en locale.
"""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
