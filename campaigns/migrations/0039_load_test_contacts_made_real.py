"""Give back to the marketer the contacts a load test made first that a real path took up since.

Before 0039 nothing cleared a contact's load-test flag once a load-test key's message had made it,
so a contact since put on a real list or signed up stayed hidden and was deleted by the load test's
cleanup. Such a contact is the marketer's: every real path clears the flag from now on.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef, Q


def load_test_contacts_made_real(apps, schema_editor):
    Contact = apps.get_model("campaigns", "Contact")
    ListMembership = apps.get_model("campaigns", "ListMembership")
    Signup = apps.get_model("campaigns", "Signup")
    on_a_real_list = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list__is_load_test=False)
    signed_up = Signup.objects.filter(contact=OuterRef("pk"))
    Contact.objects.filter(is_load_test=True).filter(Q(Exists(on_a_real_list)) | Q(Exists(signed_up))).update(
        is_load_test=False
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0038_shown_names_everywhere")]

    operations = [migrations.RunPython(load_test_contacts_made_real, migrations.RunPython.noop)]
