"""The riskcard bot: SMS (Twilio) and web chat answers, and outbound exposure alerts."""
