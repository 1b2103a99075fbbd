import { render } from 'preact';
import { App } from './app/App';
import { startInbox } from './app/inbox';
import { boot } from './app/session';
import './ui/styles.css';

render(<App />, document.getElementById('app')!);
void boot();
startInbox();
