"""Serializer fields the API shares."""

from rest_framework import serializers


class WholePrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related object named by its id: a whole number or its digits, never a fraction (which the
    database would cut to another object's id, 1.5 to 1) nor a flag."""

    def to_internal_value(self, data):
        if isinstance(data, float):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)
