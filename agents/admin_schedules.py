"""Admin of tenant schedules (issue 11 part 5): scheduled briefs, summaries, alerts and questions.

Scoped like every tenant-owned admin (:class:`tenants.admin_base.TenantScopedAdmin`): members
see their tenant's schedules, editors and above add, change and delete them, another tenant's
schedule is a 404. Saving creates, updates or removes the schedule's django-q2 row
(:func:`agents.scheduled.services.analysis_schedule_sync`); the form refuses a bad cron
expression or time zone, a missing time of day or weekday, a free question without its text, a
Slack channel for a tenant without a Slack connector and another tenant's webhook endpoint.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin
from django.utils import timezone
from django_q.models import Schedule

from actions.models import WebhookEndpoint
from agents.models import AnalysisSchedule, ScheduleAnalysis, ScheduleCadence
from agents.scheduled.services import ScheduleInvalid, analysis_schedule_remove, analysis_schedule_sync, cron_check, zone_check
from integrations.models import ConnectorCredential, ConnectorKind
from tenants.admin_base import TenantScopedAdmin, tenant_rows
from tenants.models import ROLES_THAT_EDIT

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")


class AnalysisScheduleForm(forms.ModelForm):
    """Validates the cadence, time zone, analysis and destinations (errors on the field at fault)."""

    class Meta:
        model = AnalysisSchedule
        fields = ["tenant", "name", "enabled", "cadence", "cron", "time_of_day", "weekday", "time_zone", "analysis", "question", "slack_channel", "webhook_endpoint"]

    def clean(self):
        data = super().clean()
        tenant = data.get("tenant") or (self.instance.tenant if self.instance.tenant_id else None)
        cadence = data.get("cadence")
        if cadence == ScheduleCadence.CRON:
            try:
                data["cron"] = cron_check(data.get("cron") or "")
            except ScheduleInvalid as exc:
                self.add_error("cron", str(exc))
        else:
            if data.get("time_of_day") is None:
                self.add_error("time_of_day", "A daily or weekly schedule needs a time of day.")
            if cadence == ScheduleCadence.WEEKLY and data.get("weekday") is None:
                self.add_error("weekday", "A weekly schedule needs a weekday.")
        if data.get("time_zone"):
            try:
                zone_check(data["time_zone"])
            except ScheduleInvalid as exc:
                self.add_error("time_zone", str(exc))
        if data.get("analysis") == ScheduleAnalysis.QUESTION and not (data.get("question") or "").strip():
            self.add_error("question", "A free-question schedule needs its question.")
        channel = (data.get("slack_channel") or "").strip()
        data["slack_channel"] = channel
        if channel and not _CHANNEL_ID.match(channel):
            self.add_error("slack_channel", "Give a Slack channel id (C… or G…, from the channel's details), not its name.")
        elif channel and tenant is not None and not ConnectorCredential.objects.for_tenant(tenant).filter(kind=ConnectorKind.SLACK).exists():
            self.add_error("slack_channel", f"Tenant '{tenant.slug}' has no Slack connector: add the 'slack' connector (bot token and signing secret) before choosing a Slack channel.")
        endpoint = data.get("webhook_endpoint")
        if endpoint is not None and tenant is not None and endpoint.tenant_id != tenant.pk:
            self.add_error("webhook_endpoint", "This webhook endpoint belongs to another tenant.")
        if not channel and endpoint is None and data.get("analysis") != ScheduleAnalysis.ALERTS:
            self.add_error("slack_channel", "Choose where the answer goes: a Slack channel, a webhook endpoint or both.")
        return data


@admin.register(AnalysisSchedule)
class AnalysisScheduleAdmin(TenantScopedAdmin):
    """Tenant schedules: cadence in the schedule's time zone, what runs, where it goes, when it
    last fired and the run it created, and the next firing time."""

    form = AnalysisScheduleForm
    delete_roles = ROLES_THAT_EDIT
    list_display = ["name", "tenant", "enabled", "analysis", "cadence_text", "destination", "last_fired_at", "next_run"]
    list_filter = ["enabled", "analysis"]
    search_fields = ["name"]
    readonly_fields = ["last_fired_at", "last_run", "next_run"]
    fieldsets = [
        (None, {"fields": ["tenant", "name", "enabled", "analysis", "question"]}),
        ("When", {"fields": ["cadence", "time_of_day", "weekday", "cron", "time_zone", "next_run"]}),
        ("Where the answer goes", {"fields": ["slack_channel", "webhook_endpoint"]}),
        ("History", {"fields": ["last_fired_at", "last_run"]}),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "webhook_endpoint":
            endpoints = tenant_rows(request, WebhookEndpoint, self.change_roles)
            kwargs["queryset"] = endpoints.select_related("tenant").order_by("tenant__slug", "pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="cadence")
    def cadence_text(self, obj: AnalysisSchedule) -> str:
        return f"{obj.cron_expression()} ({obj.zone_name()})"

    @admin.display(description="destination")
    def destination(self, obj: AnalysisSchedule) -> str:
        parts = [f"Slack {obj.slack_channel}" if obj.slack_channel else "", f"webhook {obj.webhook_endpoint}" if obj.webhook_endpoint_id else ""]
        return ", ".join(p for p in parts if p) or ("owners (alerts)" if obj.analysis == ScheduleAnalysis.ALERTS else "-")

    @admin.display(description="next run")
    def next_run(self, obj: AnalysisSchedule) -> str:
        if obj.pk is None:
            return "-"
        row = Schedule.objects.filter(name=obj.q_schedule_name).first()
        if row is None:
            return "not scheduled (disabled)"
        local = timezone.localtime(row.next_run, zone_check(obj.zone_name()))
        return f"{local:%Y-%m-%d %H:%M} {obj.zone_name()}"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        analysis_schedule_sync(schedule=obj)

    def delete_model(self, request, obj):
        analysis_schedule_remove(schedule=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            analysis_schedule_remove(schedule=obj)
        super().delete_queryset(request, queryset)

