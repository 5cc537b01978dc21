"""Masking of personal data for lists and logs."""


def mask_phone(phone):
    """Keep the first 3 and last 4 digits of a phone number: 138****5678."""
    digits = (phone or "").strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(number):
    """Keep the first 4 and last 4 characters of an ID number: 1101**********803X."""
    value = (number or "").strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
