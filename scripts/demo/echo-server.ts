// One instance of the demo's `echo` service: answers every request with its own name.
import { createServer } from 'node:http';

const [name = 'echo', port = '0'] = process.argv.slice(2);
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ instance: name, path: req.url }));
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
