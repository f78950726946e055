"""The "Lists" card of a contact's profile, rendered by the segments app so the contacts app
needs no knowledge of lists: `{% load segments_tags %}{% contact_lists_card contact %}`."""

from __future__ import annotations

from django import template

from segments.selectors import active_lists, lists_of_contact

register = template.Library()


@register.inclusion_tag("segments/_contact_lists.html", takes_context=True)
def contact_lists_card(context, contact):
    request = context.get("request")
    can_change = bool(request and request.user.can("change_contacts"))
    member_of = lists_of_contact(contact)
    joined = {lst.pk for lst in member_of}
    return {
        "contact": contact,
        "member_of": member_of,
        "can_change": can_change,
        "choices": [lst for lst in active_lists().only("pk", "name") if lst.pk not in joined]
        if can_change else [],
        "csrf_token": context.get("csrf_token"),
    }
