"""A campaign step in words, as the admin shows it: when it goes, to whom, with which template."""

from datetime import timedelta

from django.utils.translation import gettext, ngettext, pgettext

from campaigns.models import CampaignStep


def step_summary(step: CampaignStep) -> str:
    """Describe the step in a sentence, in the language of the request."""
    if step.send_at is not None:
        when = gettext("at %(moment)s, or as soon as the previous step is passed") % {
            "moment": f"{step.send_at:%Y-%m-%d %H:%M %Z}"
        }
    elif step.delay:
        when = gettext("%(duration)s after the previous step") % {"duration": duration_words(step.delay)}
    else:
        when = gettext("right after the previous step")
    if not CampaignStep.objects.filter(campaign_id=step.campaign_id, order__lt=step.order).exists():
        when = gettext("when the campaign starts (or the contact joins, if the audience is ongoing)")
    who = gettext("everyone still in the campaign")
    if step.condition != CampaignStep.Condition.ALWAYS:
        earlier = step.condition_step  # None without a query when condition_step_id is.
        looked_at = gettext("step %(order)s") % {"order": earlier.order} if earlier is not None else None
        # Whole verbs, not the choice's label: German puts "haben" after them.
        verbs = {
            CampaignStep.Condition.OPENED: pgettext("step condition", "opened"),
            CampaignStep.Condition.NOT_OPENED: pgettext("step condition", "not opened"),
            CampaignStep.Condition.CLICKED: pgettext("step condition", "clicked"),
            CampaignStep.Condition.NOT_CLICKED: pgettext("step condition", "not clicked"),
            CampaignStep.Condition.CLICKED_LINK: pgettext("step condition", "clicked %(url)s")
            % {"url": step.condition_url},
        }
        who = gettext("those who %(verb)s (%(step)s); the others skip it") % {
            "verb": verbs[CampaignStep.Condition(step.condition)],
            "step": looked_at or gettext("any earlier step"),
        }
    return gettext("Step %(order)s: %(when)s, to %(who)s; template “%(template)s”.") % {
        "order": step.order,
        "when": when,
        "who": who,
        "template": step.template,
    }


def duration_words(duration: timedelta) -> str:
    """Say a duration the way a marketer would: 3 days, 2 hours 30 minutes."""
    days, seconds = duration.days, duration.seconds
    parts = [
        (days, ngettext("%(n)s day", "%(n)s days", days)),
        (seconds // 3600, ngettext("%(n)s hour", "%(n)s hours", seconds // 3600)),
        (seconds % 3600 // 60, ngettext("%(n)s minute", "%(n)s minutes", seconds % 3600 // 60)),
        (seconds % 60, ngettext("%(n)s second", "%(n)s seconds", seconds % 60)),
    ]
    return " ".join(words % {"n": n} for n, words in parts if n) or gettext("0 seconds")
