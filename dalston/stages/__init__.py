"""Pure stage functions: inputs from storage by job id, outputs to storage under fixed keys.

Celery tasks in ``dalston.tasks`` are thin views over these functions.
"""
