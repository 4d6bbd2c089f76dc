// Placeholder until the target has code; remove when it does.
