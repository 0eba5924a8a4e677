export { answerDns, type DnsAnswerOptions, type DnsOutcome, type DnsRcode } from './dns-answer.ts';
export { type DnsCounters, DnsServer, type DnsServerOptions } from './dns-server.ts';
export { dnsSnapshotSource } from './dns-source.ts';
export { type DnsLeader, type DnsNode, type DnsSnapshot, tableLeader } from './dns-view.ts';
