"""indexflow.tasks"""
