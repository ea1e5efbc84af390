from django.core.management.base import BaseCommand, CommandError

from tracer.chain import ChainMismatch, ChainUnavailable
from tracer.services import chain_from_settings, current_contract


class Command(BaseCommand):
    help = (
        "Show the anchoring contract on the configured chain, deploying it first if the hub "
        "has none there. Publish the address: verifiers need it."
    )

    def handle(self, *args, **options):
        try:
            chain = chain_from_settings()
            contract = current_contract(chain)
        except (ChainUnavailable, ChainMismatch) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"contract  {contract.address}")
        self.stdout.write(f"chain id  {contract.chain_id}")
        self.stdout.write(f"genesis   {contract.genesis_hash}")
        self.stdout.write(f"signer    {chain.signer}")
        if contract.deployed_in_tx:
            self.stdout.write(f"deployed  in transaction {contract.deployed_in_tx}")
