// Client sessions (/client) and the remote console (/console) of a running node.
// Wired to the HSM service and the console command set as those land.

import type { Appliance } from '../appliance/appliance.ts';
import type { ClientConnection, ClientPath } from '../transport/transport.ts';

export function handleClientConnection(_appliance: Appliance, _path: ClientPath, connection: ClientConnection): void {
  connection.close(4404, 'not served yet');
}
