// Drives a Cairn node with the unmodified @polkadot/api: create, query, signAndSend to Finalized,
// paymentInfo, a dispatch-error lookup, a node-info view (roles, listen addresses, health, peers, methods)
// and an account-balance view (derive.balances.all and the Locks/Reserves/Holds/Freezes items).
// Prints one JSON line with what it saw.
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

const nodeInfo = {
  roles: (await api.rpc.system.nodeRoles()).map((role) => role.toString()),
  listenAddresses: (await api.rpc.system.localListenAddresses()).map((address) => address.toString()),
  peerId: (await api.rpc.system.localPeerId()).toString(),
  health: (await api.rpc.system.health()).toJSON(),
  peers: (await api.rpc.system.peers()).toJSON(),
  methods: (await api.rpc.rpc.methods()).methods.map((method) => method.toString()),
};

const all = await api.derive.balances.all(alice.address);
const [locks, reserves, holds, freezes] = await Promise.all(
  ['locks', 'reserves', 'holds', 'freezes'].map((item) => api.query.balances[item](alice.address)));
const balance = {
  free: all.freeBalance.toString(),
  reserved: all.reservedBalance.toString(),
  locked: all.lockedBalance.toString(),
  transferable: all.transferable === null ? null : all.transferable.toString(),
  namedReserves: all.namedReserves.map((list) => list.toJSON()),
  lockedBreakdown: all.lockedBreakdown.map((lock) => lock.toJSON()),
  items: { locks: locks.toJSON(), reserves: reserves.toJSON(), holds: holds.toJSON(), freezes: freezes.toJSON() },
  holdTypeName: api.registry.lookup.getTypeDef(api.query.balances.holds.creator.meta.type.asMap.value).type,
};

console.log(JSON.stringify({
  chain: (await api.rpc.system.chain()).toString(),
  partialFee: info.partialFee.toString(),
  received: (after - before).toString(),
  ok, failed, nodeInfo, balance,
}));
await api.disconnect();
