"""Guards services share for their keyword arguments."""


def reject_unknown_fields(fields, allowed: set[str], service: str) -> None:
    """A programming error, not bad input: views pass only validated, known fields to services."""
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"{service}() got unexpected fields {sorted(unknown)}")
