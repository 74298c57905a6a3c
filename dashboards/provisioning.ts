// Grafana provisioning for the site's docker-compose.yml: the data sources at the compose
// services' addresses, and a file provider for the dashboards' folder.
import { stringify } from 'yaml';
import { PROVISIONED } from './influxql.ts';

/** Where docker-compose.yml mounts grafana/dashboards inside the Grafana container. */
export const DASHBOARDS_IN_CONTAINER = '/etc/grafana/dashboards/floorwatch';

const HEADER = '# Written by `npm run dashboards`; edit dashboards/provisioning.ts instead.\n';

export function datasources(): string {
  return (
    HEADER +
    stringify({
      apiVersion: 1,
      datasources: [
        {
          name: PROVISIONED.influxdb.name,
          uid: PROVISIONED.influxdb.uid,
          type: PROVISIONED.influxdb.type,
          access: 'proxy',
          // The hub's FLOORWATCH_INFLUX_URL in docker-compose.yml names the same server and database.
          url: 'http://influxdb:8086',
          isDefault: true,
          jsonData: { dbName: 'floorwatch', httpMode: 'POST', version: 'InfluxQL', timeInterval: '10s' },
        },
        {
          name: PROVISIONED.prometheus.name,
          uid: PROVISIONED.prometheus.uid,
          type: PROVISIONED.prometheus.type,
          access: 'proxy',
          url: 'http://prometheus:9090',
          jsonData: { timeInterval: '15s' },
        },
      ],
    })
  );
}

export function dashboardProvider(): string {
  return (
    HEADER +
    stringify({
      apiVersion: 1,
      providers: [
        {
          name: 'floorwatch',
          folder: 'floorwatch',
          type: 'file',
          disableDeletion: true,
          allowUiUpdates: false,
          updateIntervalSeconds: 60,
          options: { path: DASHBOARDS_IN_CONTAINER },
        },
      ],
    })
  );
}
