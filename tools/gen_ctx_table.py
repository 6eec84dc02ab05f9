"""Print the HPyContext member list of the installed hpy.devel headers as the
Rust x-macro body used by src/abi.rs (`hpy_context_members!`).

Run it when HPy's ABI changes and paste the output into src/abi.rs; the ABI
layout test (tests/test_abi_layout.py) catches any drift.  Public API names
(for diagnostics) come from HPy's public_api.h when given as argv[1].
"""
import os
import re
import sys

import hpy.devel

CTYPES = {
    'HPy': 'HPy', 'int32_t': 'i32', 'uint32_t': 'u32', 'int64_t': 'i64',
    'uint64_t': 'u64', 'size_t': 'usize', 'HPy_ssize_t': 'HPy_ssize_t',
    'void *': '*mut c_void', 'double': 'f64', 'bool': 'bool', 'int': 'c_int',
    'const char *': '*const c_char', 'char *': '*mut c_char',
    'HPy_hash_t': 'HPy_hash_t', 'HPy_UCS4': 'HPy_UCS4',
    'const wchar_t *': '*const wchar_t', 'HPyType_Spec *': '*mut HPyType_Spec',
    'HPyType_SpecParam *': '*mut HPyType_SpecParam', 'const HPy *': '*const HPy',
    'HPy []': '*mut HPy', 'void **': '*mut *mut c_void',
    'cpy_PyObject *': '*mut cpy_PyObject', 'HPyFunc_Signature': 'HPyFunc_Signature',
    'HPyCFunction': 'HPyCFunction', 'HPyListBuilder': 'HPyListBuilder',
    'HPyTupleBuilder': 'HPyTupleBuilder', 'HPyTracker': 'HPyTracker',
    'HPyField *': '*mut HPyField', 'HPyField': 'HPyField',
    'HPyGlobal *': '*mut HPyGlobal', 'HPyGlobal': 'HPyGlobal',
    'HPyThreadState': 'HPyThreadState', 'HPyType_BuiltinShape': 'HPyType_BuiltinShape',
    'HPyCapsule_Destructor *': '*mut HPyCapsule_Destructor',
    '_HPyCapsule_key': '_HPyCapsule_key', 'HPy_SourceKind': 'HPy_SourceKind',
    'HPy_ssize_t *': '*mut HPy_ssize_t', 'HPyCallFunction *': '*mut HPyCallFunction',
    'HPy *': '*mut HPy', 'void': '()',
}


def rtype(c):
    c = re.sub(r'\s+', ' ', c.strip()).replace(' *', ' *')
    c = c.replace('* ', '*').replace(' *', ' *')
    key = re.sub(r'\s*\*', ' *', c).replace('  ', ' ').strip()
    key = key.replace(' * *', ' **')
    return CTYPES[key]


def main():
    public = {}
    if len(sys.argv) > 1:
        for m in re.finditer(r'^[^\n(]*?\b(_?HPy[A-Za-z0-9_]*)\(HPyContext \*ctx',
                             open(sys.argv[1]).read(), re.M):
            name = m.group(1)
            public[re.sub(r'^_?HPy_?', '', name)] = name
    hdr = os.path.join(os.path.dirname(hpy.devel.__file__),
                       'include/hpy/universal/autogen_ctx.h')
    body = open(hdr).read().split('struct _HPyContext_s {')[1].split('};')[0]
    for line in body.splitlines():
        line = line.split('//')[0].strip()
        if not line or line.startswith(('const char *name', 'void *_private', 'int abi_version')):
            continue
        m = re.match(r'HPy (h_\w+);', line)
        if m:
            print(f'    const {m.group(1)};')
            continue
        m = re.match(r'(.+?)\(\*ctx_(\w+)\)\(HPyContext \*ctx(.*)\);', line)
        assert m, line
        ret, name, params = m.groups()
        args = []
        for p in filter(None, (x.strip() for x in params.split(','))):
            arr = p.endswith('[]')
            p = p[:-2] if arr else p
            pm = re.match(r'(.*?)(\w+)$', p)
            ptype, pname = pm.group(1).strip(), pm.group(2)
            if arr:
                ptype += ' []'
            if pname == 'type':
                pname = 'type_'
            args.append(f'{pname}: {rtype(ptype)}')
        r = rtype(ret)
        pub = public.get(name, name)
        print(f'    fn {name} "{pub}" ({", ".join(args)}) -> {r};')


main()
