import { describeConnectionLimitsContract } from '../connection-limits.contract';
import { MemoryConnectionLimits } from './memory-connection-limits';

describeConnectionLimitsContract(
  'MemoryConnectionLimits',
  (values, now) => new MemoryConnectionLimits({ values, capRetryMs: 30_000, now }),
);
