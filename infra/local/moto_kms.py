"""KMS key states in moto 5.2.5, enforced as AWS does.

moto records DisableKey / ScheduleKeyDeletion but still encrypts, decrypts and signs with the
key. AWS refuses: `DisabledException` for a disabled key, `KMSInvalidStateException` for one
pending deletion. Clavis maps those to retryable faults, and its tests disable a key to
inject exactly that fault, so the emulator must refuse too. Installed by moto_server.py.
"""

from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend


class DisabledException(JsonRESTError):
    code = 400

    def __init__(self, arn: str):
        super().__init__("DisabledException", f"{arn} is disabled.")


class KMSInvalidStateException(JsonRESTError):
    code = 400

    def __init__(self, arn: str, state: str):
        super().__init__("KMSInvalidStateException", f"{arn} is {state}.")


def _ensure_usable(backend: KmsBackend, key_id: str) -> None:
    key = backend.keys.get(backend.any_id_to_key_id(key_id))
    if key is None:
        return  # moto's own lookup raises NotFoundException next
    if key.key_state == "Disabled":
        raise DisabledException(key.arn)
    if key.key_state != "Enabled":
        raise KMSInvalidStateException(key.arn, key.key_state)


def _checked(operation, key_arg: str, position: int):
    def call(self, *args, **kwargs):
        key_id = kwargs.get(key_arg, args[position] if len(args) > position else None)
        if key_id:
            _ensure_usable(self, key_id)
        return operation(self, *args, **kwargs)

    return call


def _checked_decrypt(decrypt):
    def call(self, *args, **kwargs):
        result = decrypt(self, *args, **kwargs)
        # The key comes from the ciphertext; refuse after finding it, as AWS does.
        _ensure_usable(self, result[1])
        return result

    return call


def install() -> None:
    KmsBackend.encrypt = _checked(KmsBackend.encrypt, "key_id", 0)
    KmsBackend.generate_data_key = _checked(KmsBackend.generate_data_key, "key_id", 0)
    KmsBackend.sign = _checked(KmsBackend.sign, "key_id", 0)
    KmsBackend.verify = _checked(KmsBackend.verify, "key_id", 0)
    KmsBackend.generate_mac = _checked(KmsBackend.generate_mac, "key_id", 1)
    KmsBackend.decrypt = _checked_decrypt(KmsBackend.decrypt)
