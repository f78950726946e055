"""The form of Settings › Scoring & events. It validates; engagement.settings_services writes."""

from __future__ import annotations

from django import forms

MAX_POINTS = 1000
MAX_THRESHOLD = 1_000_000


def _points(label: str, help_text: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, min_value=0, max_value=MAX_POINTS, help_text=help_text,
        error_messages={"required": "Give a number of points (0 or more).",
                        "invalid": "Enter a whole number of points."},
    )


class ScoreSettingsForm(forms.Form):
    open_points = _points("Points per open", "Opens of one message count once per hour.")
    click_points = _points("Points per click", "")
    reply_points = _points("Points per reply", "")
    recent_days = forms.IntegerField(
        label="Recent activity: the last … days", min_value=1, max_value=365,
        help_text="Events in this many days count the factor below times (1 to 365).",
        error_messages={"required": "Give a number of days from 1 to 365.",
                        "invalid": "Enter a whole number of days from 1 to 365."},
    )
    recent_factor = forms.FloatField(
        label="Recent activity factor", min_value=1, max_value=10,
        help_text="How many times recent events count (1 to 10; 1 turns the weighting off).",
        error_messages={"required": "Give a factor from 1 to 10.",
                        "invalid": "Enter a number from 1 to 10."},
    )
    hot_from = forms.IntegerField(
        label="Hot from (score)", min_value=1, max_value=MAX_THRESHOLD,
        error_messages={"required": "Give the score from which a lead is hot.",
                        "invalid": "Enter a whole number."},
    )
    warm_from = forms.IntegerField(
        label="Warm from (score)", min_value=0, max_value=MAX_THRESHOLD,
        help_text="Below this a lead is cold. Must be lower than the hot threshold.",
        error_messages={"required": "Give the score from which a lead is warm.",
                        "invalid": "Enter a whole number."},
    )

    def clean(self) -> dict:
        data = super().clean()
        hot, warm = data.get("hot_from"), data.get("warm_from")
        if hot is not None and warm is not None and warm >= hot:
            self.add_error("warm_from", f"The warm threshold must be lower than the hot one "
                                        f"({hot}).")
        return data
