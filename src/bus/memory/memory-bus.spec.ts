import { describeBusContract } from '../bus.contract';
import { MemoryBus } from './memory-bus';

// One process has one replica: the two-replica cases need a backend shared between processes.
describeBusContract('memory', {
  single: () => Promise.resolve({ bus: new MemoryBus(), close: () => Promise.resolve() }),
});
