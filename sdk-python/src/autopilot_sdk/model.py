"""`Model`: the base of the typed spec and statusInfo classes `ap generate` writes."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """A pydantic model whose fields are snake_case in Python and camelCase in JSON, as
    Kubernetes writes them. Fields the schema does not name are kept, not dropped.

    >>> class Spec(Model):
    ...     fail_first: int | None = None
    >>> Spec.model_validate({"failFirst": 2}).fail_first
    2
    >>> Spec(fail_first=1).model_dump(exclude_none=True)
    {'failFirst': 1}
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )
