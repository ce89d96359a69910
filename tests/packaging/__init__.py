"""The distributions as users get them: built wheels installed into clean virtual envs."""
