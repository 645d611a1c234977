// Drives a Cairn node with the unmodified @polkadot/api: create, query, signAndSend to Finalized,
// paymentInfo, and a dispatch-error lookup. Prints one JSON line with what it saw.
import { ApiPromise, WsProvider, Keyring } from '@polkadot/api';

const url = process.argv[2];
const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const alice = keyring.addFromUri('//Alice');
const bob = keyring.addFromUri('//Bob');

const before = (await api.query.system.account(bob.address)).data.free.toBigInt();
const transfer = api.tx.balances.transferKeepAlive(bob.address, 10n ** 12n);
const info = await transfer.paymentInfo(alice);

function send(tx) {
  return new Promise((resolve, reject) => {
    const statuses = [];
    tx.signAndSend(alice, { nonce: -1 }, (result) => {
      statuses.push(result.status.type);
      if (result.status.isFinalized) {
        let error = null;
        if (result.dispatchError && result.dispatchError.isModule) {
          const meta = api.registry.findMetaError(result.dispatchError.asModule);
          error = `${meta.section}.${meta.name}`;
        }
        resolve({ statuses, error, events: result.events.map((e) => `${e.event.section}.${e.event.method}`) });
      }
    }).catch(reject);
  });
}

const ok = await send(transfer);
const failed = await send(api.tx.balances.transferAllowDeath(bob.address, 10n ** 30n));
const after = (await api.query.system.account(bob.address)).data.free.toBigInt();
console.log(JSON.stringify({
  chain: (await api.rpc.system.chain()).toString(),
  partialFee: info.partialFee.toString(),
  received: (after - before).toString(),
  ok, failed,
}));
await api.disconnect();
