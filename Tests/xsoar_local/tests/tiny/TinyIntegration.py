# ruff: noqa: F403, F405
"""A throwaway integration for the harness's own tests (not the pack's integration).

Written like a real XSOAR integration: the three import lines below are the ones prepare-content strips.
"""
import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401,F403

from CommonServerUserPython import *  # noqa: F401,F403

IMPORT_COUNT = 0
IMPORT_COUNT += 1  # 1 in every run if every run gets a fresh module


def echo_command(args):
    return CommandResults(outputs_prefix='Tiny.Echo', outputs_key_field='Name',  # noqa: F405
                          outputs={'Name': args.get('name'), 'Value': args.get('value')},
                          readable_output=tableToMarkdown('Echo', args))  # noqa: F405


def counter_command(args):
    """Increment 'count' in the integration context with optimistic versioning, retrying on conflict."""
    for _attempt in range(200):
        versioned = get_integration_context(with_version=True)  # noqa: F405
        context = versioned['context']
        context['count'] = context.get('count', 0) + 1
        try:
            set_integration_context(context, version=versioned['version'])  # noqa: F405
            return CommandResults(readable_output=f'count={context["count"]}')  # noqa: F405
        except ValueError:
            demisto.debug('conflict, retrying')
    raise DemistoException('too many conflicts')  # noqa: F405


def poll_command(args):
    remaining = arg_to_number(args.get('remaining'), 'remaining', required=True) or 0  # noqa: F405
    if remaining > 0:
        return CommandResults(
            readable_output=f'still {remaining} to go',
            scheduled_command=ScheduledCommand(command='tiny-poll', next_run_in_seconds=10,  # noqa: F405
                                               args={'remaining': str(remaining - 1)},
                                               timeout_in_seconds=arg_to_number(args.get('timeout')) or 600))  # noqa: F405
    return CommandResults(outputs_prefix='Tiny.Poll', outputs={'Done': True}, readable_output='done')  # noqa: F405


def items_command(args):
    """Tiny.Item objects keyed by ID, from a JSON list (a command returning several objects)."""
    items = json.loads(args.get('items') or '[]')  # noqa: F405
    return CommandResults(outputs_prefix='Tiny.Item', outputs_key_field='ID', outputs=items,  # noqa: F405
                          readable_output=f'{len(items)} item(s)')


def flaky_command(args):
    """Fails until it has been called `succeed_on` times for the same `key` (counted in the integration context)."""
    context = get_integration_context()  # noqa: F405
    key = f"flaky-{args.get('key')}"
    context[key] = context.get(key, 0) + 1
    set_integration_context(context)  # noqa: F405
    if context[key] < (arg_to_number(args.get('succeed_on')) or 1):  # noqa: F405
        raise DemistoException(f'attempt {context[key]} failed')  # noqa: F405
    return CommandResults(outputs_prefix='Tiny.Flaky', outputs={'Attempts': context[key]},  # noqa: F405
                          readable_output=f'succeeded on attempt {context[key]}')


def main():
    params = demisto.params()
    secret = (params.get('secret') or {}).get('password', '')
    add_sensitive_log_strs(secret)  # noqa: F405
    command = demisto.command()
    args = demisto.args()
    demisto.debug(f'running {command} with secret {secret}')
    if command == 'tiny-uncaught':
        raise RuntimeError(f'uncaught with {secret}')
    try:
        if command == 'test-module':
            return_results('ok')  # noqa: F405
        elif command == 'tiny-echo':
            return_results(echo_command(args))  # noqa: F405
        elif command == 'tiny-fail':
            raise DemistoException(f'the secret {secret} was refused')  # noqa: F405
        elif command == 'tiny-crash':
            int('not a number')  # an unexpected exception, not a DemistoException
        elif command == 'tiny-counter':
            return_results(counter_command(args))  # noqa: F405
        elif command == 'tiny-poll':
            return_results(poll_command(args))  # noqa: F405
        elif command == 'tiny-module-state':
            return_results(f'imports={IMPORT_COUNT}')  # noqa: F405
        elif command == 'tiny-env':
            return_results(f'TINY_VAR={os.environ.get("TINY_VAR")}')  # noqa: F405
        elif command == 'tiny-print':
            print('printed line')  # noqa: T201
            return_results('printed')  # noqa: F405
        elif command == 'tiny-incident':
            incident = demisto.incident()
            return_results(CommandResults(  # noqa: F405
                outputs_prefix='Tiny.Incident', outputs={'ID': incident.get('id'), 'Name': incident.get('name')},
                readable_output=f"incident={incident.get('id')!r} playground={incident.get('isPlayground')}"))
        elif command == 'tiny-args':
            return_results(CommandResults(outputs_prefix='Tiny.Args', outputs=args,  # noqa: F405
                                          readable_output=json.dumps(args, sort_keys=True)))  # noqa: F405
        elif command == 'tiny-items':
            return_results(items_command(args))
        elif command == 'tiny-flaky':
            return_results(flaky_command(args))
        elif command == 'tiny-invalid':
            return_error(f"invalid value {args.get('value')!r}",  # noqa: F405
                         outputs={'Tiny.Invalid(val.Value && val.Value == obj.Value)': {'Value': args.get('value')}})
        elif command == 'tiny-exit':
            sys.exit(3)  # noqa: F405
        else:
            raise NotImplementedError(f"Command '{command}' is not implemented")
    except Exception as exc:
        return_error(f'Failed to execute {command} command.\nError:\n{exc}', error=exc)  # noqa: F405


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()
