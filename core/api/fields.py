"""Serializer fields the API shares."""

from typing import cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

#: Ids one many-related field takes in a request: each names a list or segment, so this is far past
#: any real request, and keeps one body from asking for hundreds of thousands of lookups.
MAX_RELATED_IDS = 10_000


class WholePrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object named by its id: a whole number or its digits, never a fraction (which the
    database would cut to another object's id, 1.5 to 1) nor a flag."""

    def to_internal_value(self, data):
        if isinstance(data, float):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)

    @classmethod
    def many_init(cls, *args, **kwargs):
        # As DRF's own many_init, giving our many-field instead of its.
        many_kwargs = {key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS}
        return WholeManyRelatedField(child_relation=cls(*args, **kwargs), **many_kwargs)

    def pk_of(self, data):
        """Return the id one item names, refused as one such field refuses it."""
        if isinstance(data, bool | float) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            return cast(QuerySet, self.get_queryset()).model._meta.pk.to_python(data)
        except DjangoValidationError:
            self.fail("incorrect_type", data_type=type(data).__name__)


class WholeManyRelatedField(serializers.ManyRelatedField):
    """Related objects named by their ids: at most MAX_RELATED_IDS, a repeated id taken once, all
    looked up in one query (DRF's own field runs one per id)."""

    child_relation: WholePrimaryKeyRelatedField

    default_error_messages = {
        **serializers.ManyRelatedField.default_error_messages,
        "too_many": _("At most {max} ids; this list holds {count}."),
    }

    def to_internal_value(self, data):
        if isinstance(data, str) or not hasattr(data, "__iter__") or isinstance(data, dict):
            self.fail("not_a_list", input_type=type(data).__name__)
        data = list(data)
        if not self.allow_empty and not data:
            self.fail("empty")
        if len(data) > MAX_RELATED_IDS:
            self.fail("too_many", max=MAX_RELATED_IDS, count=len(data))
        ids = list(dict.fromkeys(self.child_relation.pk_of(item) for item in data))
        found = cast(QuerySet, self.child_relation.get_queryset()).in_bulk(ids)
        for pk in ids:
            if pk not in found:
                self.child_relation.fail("does_not_exist", pk_value=pk)
        return [found[pk] for pk in ids]


class OnePartEach(serializers.Serializer):
    """A serializer of form parts that refuses a part sent twice where its field takes one value:
    a form reader keeps the last of them, and the first (a file, a reason) would go unread."""

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            repeated = {
                name: [gettext("Sent more than once; send it once.")]
                for name, field in self.fields.items()
                if not isinstance(field, serializers.ManyRelatedField | serializers.ListField)
                and len(data.getlist(name)) > 1
            }
            if repeated:
                raise serializers.ValidationError(repeated)
        return super().to_internal_value(data)
