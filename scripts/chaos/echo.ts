// A chaos run's `echo` instance: listens on every address of its network namespace and answers
// every request with its name. Started by chaos.ts inside a host's namespace.
import { createServer } from 'node:http';

const [name = 'echo', port = '8080'] = process.argv.slice(2);
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ instance: name, path: req.url }));
});
server.listen(Number(port), '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
