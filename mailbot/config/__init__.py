"""Settings: one TOML file, checked against a schema (schema.py), read into immutable objects (settings.py)
by loading.py, every problem reported at once with its path."""

from mailbot.config.loading import load, load_staff_csv
from mailbot.config.schema import KNOWN_TYPES
from mailbot.config.settings import (
    CATEGORIES,
    QUOTA_BASES,
    ROLES,
    WEEKDAYS,
    Agency,
    CategoryRule,
    ConfigError,
    DeliverySettings,
    Endpoint,
    IntakeSettings,
    Member,
    PeriodicReport,
    Problem,
    QuestionSettings,
    ReminderSettings,
    ScheduleSettings,
    ServiceSettings,
    Settings,
    StaffMember,
    Step,
    Unit,
    WorkflowSettings,
    is_loopback,
    parse_endpoint,
    warnings,
)

__all__ = [
    "CATEGORIES", "KNOWN_TYPES", "QUOTA_BASES", "ROLES", "WEEKDAYS", "Agency", "CategoryRule", "ConfigError",
    "DeliverySettings", "Endpoint", "IntakeSettings", "Member", "PeriodicReport", "Problem", "QuestionSettings",
    "ReminderSettings", "ScheduleSettings", "ServiceSettings", "Settings", "StaffMember", "Step", "Unit",
    "WorkflowSettings", "is_loopback", "load", "load_staff_csv", "parse_endpoint", "warnings",
]
