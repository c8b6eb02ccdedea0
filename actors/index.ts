export { counterActor, parseCounterMessage } from './counter/counter.actor';
export type { CounterMessage, CounterState } from './counter/counter.actor';
