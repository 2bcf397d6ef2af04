"""The PodDisruptionBudget (disruption) controller: plan (pure status rules) and reconciler."""
