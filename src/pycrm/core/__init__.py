"""The domain: entities, money and rules. Pure Python (stdlib, attrs, babel)."""
