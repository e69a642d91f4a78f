"""Settings: one TOML file, checked against a schema (schema.py), read into immutable objects (settings.py)
by loading.py, every problem reported at once with its path."""

from mailbot.config.loading import load, load_staff_csv
from mailbot.config.schema import KNOWN_TYPES
from mailbot.config.settings import (
    CATEGORIES,
    DEFAULT_LIMITS,
    QUOTA_BASES,
    ROLES,
    WEEKDAYS,
    Agency,
    CategoryRule,
    ConfigError,
    DeliverySettings,
    Endpoint,
    IntakeSettings,
    LimitSettings,
    Member,
    PeriodicReport,
    Problem,
    QuestionSettings,
    ReminderSettings,
    ScheduleSettings,
    ServiceSettings,
    Settings,
    SignatureSettings,
    StaffMember,
    Step,
    Unit,
    WorkflowSettings,
    is_loopback,
    parse_endpoint,
    warnings,
)

__all__ = [
    "CATEGORIES", "DEFAULT_LIMITS", "KNOWN_TYPES", "QUOTA_BASES", "ROLES", "WEEKDAYS", "Agency", "CategoryRule", "ConfigError",
    "DeliverySettings", "Endpoint", "IntakeSettings", "LimitSettings", "Member", "PeriodicReport", "Problem", "QuestionSettings",
    "ReminderSettings", "ScheduleSettings", "ServiceSettings", "Settings", "SignatureSettings", "StaffMember", "Step", "Unit",
    "WorkflowSettings", "is_loopback", "load", "load_staff_csv", "parse_endpoint", "warnings",
]
