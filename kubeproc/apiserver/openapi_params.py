"""Query parameters and media types of the Kubernetes REST operations, for OpenAPI documents.

Names, types and (shortened) descriptions are those of the metav1 option types
(ListOptions, CreateOptions, PatchOptions, DeleteOptions) and core/v1 PodLogOptions, as
the upstream route installer publishes them (k8s.io/apiserver pkg/endpoints/installer.go).
"""

from __future__ import annotations

JSON_YAML_PB = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
STREAMING = JSON_YAML_PB + ("application/json;stream=watch",
                            "application/vnd.kubernetes.protobuf;stream=watch")
LOG_TYPES = ("text/plain", "application/json", "application/yaml",
             "application/vnd.kubernetes.protobuf")
# The patch types every built-in resource accepts (installer.go: supportedPatchTypes).
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json")

_FIELD_VALIDATION = (
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any "
    "unknown fields that are silently dropped from the object, and will ignore all but the last "
    "duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - "
    "Warn: This will send a warning via the standard warning response header for each unknown "
    "field that is dropped from the object, and for each duplicate field that is encountered. The "
    "request will still succeed if there are no other errors, and will only persist the last of "
    "any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with "
    "a BadRequest error if any unknown fields would be dropped from the object, or if any "
    "duplicate fields are present. The error returned from the server will contain all unknown "
    "and duplicate fields encountered.")

# Query parameter name -> (type, description); texts of metav1 ListOptions/CreateOptions/... docs.
QUERY_PARAMS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', then the output is pretty printed. Defaults to 'false' unless "
               "the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. An "
               "invalid or unrecognized dryRun directive will result in an error response and no "
               "further processing of the request. Valid values are: - All: all dry run stages "
               "will be processed"),
    "fieldManager": ("string", "fieldManager is a name associated with the actor or entity that is "
                     "making these changes. The value must be less than or 128 characters long, "
                     "and only contain printable characters, as defined by "
                     "https://golang.org/pkg/unicode/#IsPrint."),
    "fieldValidation": ("string", _FIELD_VALIDATION),
    "force": ("boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire "
              "conflicting fields owned by other people. Force flag must be unset for non-apply "
              "patch requests."),
    "allowWatchBookmarks": ("boolean", "allowWatchBookmarks requests watch events with type "
                            "\"BOOKMARK\". Servers that do not implement bookmarks may ignore this "
                            "flag and bookmarks are sent at the server's discretion."),
    "continue": ("string", "The continue option should be set when retrieving more results from "
                 "the server. Since this value is server defined, clients may only use the "
                 "continue value from a previous query result with identical query parameters."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their "
                      "fields. Defaults to everything."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their "
                      "labels. Defaults to everything."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call. If "
              "more items exist, the server will set the `continue` field on the list metadata."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource versions a "
                        "request may be served from. See https://kubernetes.io/docs/reference/"
                        "using-api/api-concepts/#resource-versions for details.\n\n"
                        "Defaults to unset"),
    "resourceVersionMatch": ("string", "resourceVersionMatch determines how resourceVersion is "
                             "applied to list calls.\n\nDefaults to unset"),
    "sendInitialEvents": ("boolean", "`sendInitialEvents=true` may be set together with "
                          "`watch=true`. In that case, the watch stream will begin with "
                          "synthetic events to produce the current state of objects."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call. This limits the duration of "
                       "the call, regardless of any activity or inactivity."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a "
              "stream of add, update, and remove notifications. Specify resourceVersion."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be "
                           "deleted. Value must be non-negative integer. The value zero indicates "
                           "delete immediately."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case "
        "the normal deletion flow fails with a corrupt object error."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy, this field will "
                         "be deprecated in 1.7. Should the dependent objects be orphaned."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed. "
                          "Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
    # pods/log (core/v1 PodLogOptions)
    "container": ("string", "The container for which to stream logs. Defaults to only container "
                  "if there is one container in the pod."),
    "follow": ("boolean", "Follow the log stream of the pod. Defaults to false."),
    "insecureSkipTLSVerifyBackend": ("boolean", "insecureSkipTLSVerifyBackend indicates that the "
                                     "apiserver should not confirm the validity of the serving "
                                     "certificate of the backend it is connecting to."),
    "limitBytes": ("integer", "If set, the number of bytes to read from the server before "
                   "terminating the log output."),
    "previous": ("boolean", "Return previous terminated container logs. Defaults to false."),
    "sinceSeconds": ("integer", "A relative time in seconds before the current time from which to "
                     "show logs."),
    "stream": ("string", "Specify which container log stream to return to the client. "
               "Acceptable values are \"All\", \"Stdout\" and \"Stderr\"."),
    "tailLines": ("integer", "If set, the number of lines from the end of the logs to show."),
    "timestamps": ("boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning "
                   "of every line of log output. Defaults to false."),
}

LIST = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
        "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
WRITE = ("dryRun", "fieldManager", "fieldValidation")
PATCH_PARAMS = WRITE + ("force",)
DELETE = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
          "orphanDependents", "propagationPolicy")
DELETE_COLLECTION = tuple(sorted(set(DELETE) | set(LIST) - {"allowWatchBookmarks", "watch"}))
LOG = ("container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "previous",
       "sinceSeconds", "stream", "tailLines", "timestamps")
