"""The Jobs dock (`JobsPanel`): one form per job kind (forms/), the jobs list with Cancel and
Resume (panel.py), a followed child process (process.py), the selected job's detail and plots."""

from .panel import JobsPanel
from .process import JobProcess

__all__ = ["JobProcess", "JobsPanel"]
