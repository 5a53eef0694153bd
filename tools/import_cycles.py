#!/usr/bin/env python3
"""Import cycles between the files of src/: prints every group of files that import each other
(through `crate::` paths, `super::` chains and a parent's `child::` paths) and exits 1 if there
is one. Usage: tools/import_cycles.py [REPO_DIR] [-v] (-v: the edges inside each cycle)."""
import os
import re
import sys

args=[a for a in sys.argv[1:] if a != '-v']
verbose='-v' in sys.argv
root=(args[0] if args else '.')+'/src'
files={}
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p=os.path.join(d,f); rel=os.path.relpath(p,root)
            parts=rel[:-3].split('/')
            if parts[-1] in ('mod','lib','main'): parts=parts[:-1]
            files[tuple(parts)]=p
def resolve(path):
    # longest prefix that is a file module
    for n in range(len(path),0,-1):
        if tuple(path[:n]) in files: return tuple(path[:n])
    return None
edges={}
for mod,p in files.items():
    src=open(p).read()
    # strip comments
    src=re.sub(r'//[^\n]*','',src)
    # cut test modules
    i=src.find('#[cfg(test)]')
    if i>=0: src=src[:i]
    targets=set()
    for m in re.finditer(r'\bcrate::((?:\w+::)*\w+)',src):
        t=resolve(m.group(1).split('::'))
        if t and t!=mod: targets.add(t)
    for m in re.finditer(r'use crate::\{([^}]*)\}',src):
        for item in m.group(1).split(','):
            item=item.strip().split('::')
            t=resolve(item)
            if t and t!=mod: targets.add(t)
    # super:: relative
    base=list(mod) if p.endswith('mod.rs') else list(mod[:-1])
    for m in re.finditer(r'\b((?:super::)+)((?:\w+::)*\w+)',src):
        ups=m.group(1).count('super::')
        b=list(mod) if not p.endswith('mod.rs') else list(mod)+['_']
        b=b[:len(b)-ups]
        t=resolve(b+m.group(2).split('::'))
        if t is None: t=resolve(b)
        if t and t!=mod: targets.add(t)
    for m in re.finditer(r'use super::\{([^}]*)\}',src):
        b=list(mod) if not p.endswith('mod.rs') else list(mod)+['_']
        b=b[:-1]
        for item in m.group(1).split(','):
            t=resolve(b+item.strip().split('::')) or resolve(b)
            if t and t!=mod: targets.add(t)
    # a parent's relative paths into its children (`child::item`, `use child::{..}`)
    if p.endswith('mod.rs') or p.endswith('lib.rs'):
        for m in re.finditer(r'(?<![\w:])(\w+)::', src):
            t=tuple(list(mod)+[m.group(1)])
            if t in files and t!=mod: targets.add(t)
    edges[mod]=targets
# tarjan SCC
index={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    index[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges.get(v,()):
        if w not in index: sc(w); low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],index[w])
    if low[v]==index[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        if len(comp)>1: sccs.append(comp)
for v in edges:
    if v not in index: sc(v)
for comp in sccs:
    print('CYCLE:', ' '.join('/'.join(x) for x in sorted(comp)))
    if verbose:
        for a in comp:
            for b in edges[a]:
                if b in comp: print('   ', '/'.join(a),'->','/'.join(b))
print(len(sccs),'cycles among',len(files),'files')
sys.exit(1 if sccs else 0)
