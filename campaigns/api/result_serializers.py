"""Serializers of what the audience's writes answer: bulk upserts and imports, list memberships."""

from rest_framework import serializers


class BulkErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Index in `contacts` (bulk) or line number (CSV).")
    email = serializers.CharField(allow_blank=True)
    # Not Serializer.errors: the serializer's metaclass takes declared fields off the class.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField())
    )


class KeptUnsubscribedSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Index in `contacts` (bulk) or line number (CSV).")
    email = serializers.CharField()


class KeptOffListsSerializer(KeptUnsubscribedSerializer):
    lists = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids of the given lists the contact was kept off."
    )


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField(help_text="Existing contacts the rows changed.")
    unchanged = serializers.IntegerField(help_text="Existing contacts the rows matched exactly; not written.")
    failed = serializers.IntegerField()
    errors = BulkErrorSerializer(many=True)  # type: ignore[assignment]  # A declared field, as above.
    kept_unsubscribed = KeptUnsubscribedSerializer(
        many=True,
        help_text="Rows asking to subscribe a contact who unsubscribed, without resubscribe: the "
        "contact stays unsubscribed; the row's other fields were saved.",
    )
    kept_pending = KeptUnsubscribedSerializer(
        many=True,
        help_text="Rows asking to subscribe a contact who has yet to confirm a signup (double opt-in), "
        "without resubscribe: the contact stays pending until they confirm; the row's other fields "
        "were saved.",
    )
    kept_off_lists = KeptOffListsSerializer(
        many=True,
        help_text="Rows whose contact left some of `lists` themselves, in their email preferences: "
        "they stay off those (only the contact rejoins them, through a signup they confirm, and "
        "`resubscribe` does not change that); the row was saved and joined the other lists.",
    )


class NotFoundSerializer(serializers.Serializer):
    emails = serializers.ListField(child=serializers.EmailField())
    contact_ids = serializers.ListField(child=serializers.IntegerField())


class MembershipResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="Memberships added or removed.")
    not_found = NotFoundSerializer(help_text="What was given that no contact has: nothing changed for it.")


class KeptOffSerializer(NotFoundSerializer):
    """The emails and contact ids given whose contact stayed off the list."""


class MembershipAddResultSerializer(MembershipResultSerializer):
    kept_off = KeptOffSerializer(
        help_text="What was given whose contact left this list themselves, in their email preferences: "
        "not added; only the contact rejoins it, through a signup they confirm."
    )
