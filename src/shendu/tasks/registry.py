"""The registry of task types."""

from shendu.registry import Registry

TASKS = Registry("task", "tasks")
