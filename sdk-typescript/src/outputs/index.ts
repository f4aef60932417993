/** Builders of the objects most mesh workflows apply, as small as the objects allow. */

import { ConfigMap } from "./configMap";
import { Deployment } from "./deployment";
import { HttpRoute } from "./httpRoute";
import { Service } from "./service";
import { VirtualService } from "./virtualService";

export { ConfigMap, Deployment, HttpRoute, Service, VirtualService };
export type { Destination } from "./virtualService";
export type { Backend, ParentRef } from "./httpRoute";
export { Output } from "./metadata";

export const configMap = (name: string): ConfigMap => new ConfigMap(name);
export const deployment = (name: string): Deployment => new Deployment(name);
export const service = (name: string): Service => new Service(name);
export const virtualService = (name: string): VirtualService => new VirtualService(name);
export const httpRoute = (name: string): HttpRoute => new HttpRoute(name);
