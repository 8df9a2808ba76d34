"""The dialogue: what the reply model is told (company, rules, passages, conversation) and asked."""
